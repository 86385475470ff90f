"""The mapping engine: partner EDI <-> canonical JSON documents, and canonical JSON -> JSON/XML.

Mappings are YAML files under ``mappings/`` compiled once at load into closures (``load_mapping``).
Pure: no Twisted, no I/O besides reading the mapping files.
"""

from gateway.mapping.compiled import Mapping
from gateway.mapping.kinds import document_kind_for, transaction_type_for
from gateway.mapping.loader import MappingError, check_mappings_tree, load_mapping, load_partner_mapping
from gateway.mapping.translate import build_interchange, map_transaction, mapping_name_for

__all__ = ["Mapping", "MappingError", "build_interchange", "check_mappings_tree", "document_kind_for", "load_mapping",
           "load_partner_mapping", "map_transaction", "mapping_name_for", "transaction_type_for"]
