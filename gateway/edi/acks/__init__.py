"""Acknowledgements: 997/999/TA1/CONTRL built from findings, and inbound ones read back."""

from gateway.edi.acks.common import AckStatus
from gateway.edi.acks.contrl import build_contrl
from gateway.edi.acks.read import read_ack
from gateway.edi.acks.x12 import build_997, build_999, build_ta1

__all__ = ["AckStatus", "build_997", "build_999", "build_contrl", "build_ta1", "read_ack"]
