"""Loading and checking the gateway's configuration.

``load_config(path)`` reads ``gateway.yaml`` and every ``partners/*.yaml``, checks them against their
shapes (gateway/schema.py) and against each other, and returns a frozen ``GatewayConfig`` or raises
``ConfigError`` listing every problem, each with file, line and key. Startup, SIGHUP reload and
``gatewayctl config check`` all call exactly this function.

Relative paths in gateway.yaml are relative to the folder holding gateway.yaml; relative paths in a
partner file are relative to that folder too (so ``certs/x.pem`` means ``<config dir>/certs/x.pem``).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.schema import Key, ListOf, Map, MapOf, Scalar, check
from gateway.yamlfile import Located, Problem, ProblemsError, load

ConfigError = ProblemsError
EX_CONFIG = 78  # exit code of a process that cannot load its configuration (sysexits.h)

_ENDPOINT = re.compile(r"^(tcp|tcp6|ssl|unix|systemd):.+")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_SIZES = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3, "gib": 1024**3, None: 1}


def parse_duration(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"expected a duration such as 30s, 5m, 24h, got {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise ValueError(f"expected a size such as 20MB or 512KiB, got {value!r}")
    unit = m.group(2).lower() if m.group(2) else None
    return int(m.group(1)) * _SIZES[unit]


def _validate(parser: Any) -> Any:
    def validator(value: Any) -> str | None:
        try:
            parser(value)
        except ValueError as exc:
            return str(exc)
        return None

    return validator


def _endpoint(value: str) -> str | None:
    return None if _ENDPOINT.match(value) else (
        f"expected a Twisted endpoint string such as 'tcp:4080:interface=127.0.0.1', got {value!r}")


def _timezone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r} (expected an IANA name such as America/New_York)"
    return None


STR = Scalar((str,))
OPT_STR = Scalar((str,), nullable=True)
BOOL = Scalar((bool,))
INT = Scalar((int,))
DURATION = Scalar((str, int, float), validator=_validate(parse_duration))
SIZE = Scalar((str, int), validator=_validate(parse_size))
ENDPOINT = Scalar((str,), validator=_endpoint)
ID_PAIR = Map({"qualifier": Key(Scalar((str, int)), required=True), "id": Key(STR, required=True)})
CERT_PAIR = Map({"key": Key(STR, required=True), "cert": Key(STR, required=True)})

DIGESTS = ("sha1", "sha224", "sha256", "sha384", "sha512")
CIPHERS = ("tripledes_192_cbc", "aes_128_cbc", "aes_192_cbc", "aes_256_cbc")

DESTINATION = Map({
    "kind": Key(Scalar((str,), choices=("http", "folder", "as2", "sftp")), required=True),
    "url": Key(STR),
    "path": Key(STR),
    "partner": Key(STR),
    "secret_file": Key(STR),
    "timeout": Key(DURATION, default="30s"),
    "max_attempts": Key(INT, default=10),
    "content_type": Key(STR, default="application/json"),
})

GATEWAY_SHAPE = Map({
    "node": Key(STR, required=True),
    "listen": Key(Map({"as2": Key(ENDPOINT), "api": Key(ENDPOINT), "sftp": Key(ENDPOINT)}), required=True),
    "paths": Key(Map({
        "spool": Key(STR, default="spool"),
        "audit": Key(STR, default="spool/audit"),
        "index": Key(STR, default="spool/index.sqlite"),
        "keys": Key(STR, default="keys"),
        "sftp_root": Key(STR, default="spool/sftp"),
    }), default=dict),
    "our": Key(Map({
        "as2_id": Key(STR, required=True),
        "x12": Key(ID_PAIR),
        "edifact": Key(ID_PAIR),
        "certificates": Key(ListOf(CERT_PAIR), default=list),
    }), required=True),
    "destinations": Key(MapOf(DESTINATION), default=dict),
    "partners_dir": Key(STR, default="partners"),
    "mappings_dir": Key(STR, default="mappings"),
    "rules_dir": Key(STR, default="rules"),
    "limits": Key(Map({
        "as2_body_max": Key(SIZE, default="100MiB"),
        "as2_workers": Key(INT, default=0),  # AS2 codec processes; 0 = one per core
        "sftp_upload_max": Key(SIZE, default="100MiB"),
        "api_body_max": Key(SIZE, default="10MiB"),
    }), default=dict),
    "shutdown": Key(Map({"drain_timeout": Key(DURATION, default="20s")}), default=dict),
    # hold: arrivals are stored and acknowledged as always, but not processed until the hold is lifted
    # process: translate in a worker process of its own (its own core), not in a thread of the daemon
    "pipeline": Key(Map({"hold": Key(BOOL, default=False), "process": Key(BOOL, default=True)}), default=dict),
    # how a durability round makes the spool's writes durable (see gateway/store/fsio.py)
    "store": Key(Map({"sync": Key(Scalar((str,), choices=("auto", "fsync", "syncfs")), default="auto")}),
                 default=dict),
    "log": Key(Map({"level": Key(Scalar((str,), choices=("debug", "info", "warning", "error")), default="info")}),
               default=dict),
    "alerts": Key(Map({"webhook": Key(OPT_STR), "secret_file": Key(OPT_STR)}), default=dict),
    "api": Key(Map({
        "clients": Key(ListOf(Map({
            "name": Key(STR, required=True),
            "token_file": Key(STR, required=True),
            "partners": Key(ListOf(STR), default=list),
        })), default=list),
        # ERPs that drop canonical JSON files instead of calling POST /v1/documents
        "folders": Key(ListOf(Map({
            "name": Key(STR, required=True),
            "path": Key(STR, required=True),
            "partners": Key(ListOf(STR), default=list),
            "poll_interval": Key(DURATION, default="2s"),
        })), default=list),
    }), default=dict),
})

ROUTE = Map({
    "document": Key(Scalar((str, int)), required=True),
    "direction": Key(Scalar((str,), choices=("inbound", "outbound")), default=None),
    "mapping": Key(STR),
    "rules": Key(ListOf(STR), default=list),
    "to": Key(ListOf(STR), default=list),
})

PARTNER_SHAPE = Map({
    "id": Key(STR, required=True),
    "name": Key(STR, required=True),
    "timezone": Key(Scalar((str,), validator=_timezone), default="UTC"),
    "edi": Key(Map({
        "standard": Key(Scalar((str,), choices=("x12", "edifact")), required=True),
        "x12": Key(Map({
            "qualifier": Key(Scalar((str, int)), required=True),
            "id": Key(STR, required=True),
            "version": Key(STR, default="00401"),
            "acks": Key(Scalar((str,), choices=("997", "999", "none")), default="997"),
            "ta1": Key(BOOL, default=False),
        })),
        "edifact": Key(Map({
            "qualifier": Key(Scalar((str, int)), required=True),
            "id": Key(STR, required=True),
            "syntax": Key(STR, default="UNOC:3"),
            "version": Key(STR, default="D:96A:UN"),
            "acks": Key(Scalar((str,), choices=("contrl", "none")), default="contrl"),
        })),
        "ack_deadline": Key(DURATION, default="24h"),
        "duplicate_window": Key(DURATION, default="30d"),
    }), required=True),
    "as2": Key(Map({
        "as2_id": Key(STR, required=True),
        "url": Key(STR),
        "sign": Key(Scalar((str,), choices=DIGESTS, nullable=True), default="sha256"),
        "encrypt": Key(Scalar((str,), choices=CIPHERS, nullable=True), default="aes_128_cbc"),
        "compress": Key(BOOL, default=False),
        "key_encryption": Key(Scalar((str,), choices=("rsaes_pkcs1v15", "rsaes_oaep")), default="rsaes_pkcs1v15"),
        "signature_scheme": Key(Scalar((str,), choices=("pkcs1v15", "pss")), default="pkcs1v15"),
        "mdn": Key(Map({
            "mode": Key(Scalar((str,), choices=("sync", "async")), default="sync"),
            "signed": Key(BOOL, default=True),
            "url": Key(STR),
            "timeout": Key(DURATION, default="120s"),
        }), default=dict),
        "require_signed": Key(BOOL, default=True),
        "require_encrypted": Key(BOOL, default=True),
        "certificates": Key(ListOf(STR), default=list),
        "codec": Key(Scalar((str,), choices=("native", "pyas2lib")), default="native"),
        "basic_auth": Key(Map({"user": Key(STR, required=True), "password_file": Key(STR, required=True)})),
    })),
    "sftp": Key(Map({
        "users": Key(ListOf(Map({
            "name": Key(STR, required=True),
            "authorized_keys": Key(STR),
            "password_hash_file": Key(STR),
            "delete_after_download": Key(BOOL, default=True),
            "inbox_done": Key(Scalar((str,), choices=("delete", "keep")), default="delete"),
        })), default=list),
        "remote": Key(Map({
            "host": Key(STR, required=True),
            "port": Key(INT, default=22),
            "user": Key(STR, required=True),
            "key": Key(STR, required=True),
            "host_key": Key(STR, required=True),
            "inbound_dir": Key(STR, default="outbox"),
            "outbound_dir": Key(STR, default="inbox"),
            "poll_interval": Key(DURATION, default="60s"),
            "after_download": Key(Scalar((str,), choices=("delete", "rename")), default="delete"),
        })),
    })),
    "routes": Key(ListOf(ROUTE), default=list),
})


@dataclass(frozen=True)
class Destination:
    name: str
    kind: str
    url: str | None
    path: Path | None
    partner: str | None
    secret_file: Path | None
    timeout: float
    max_attempts: int
    content_type: str


@dataclass(frozen=True)
class Route:
    document: str
    direction: str | None
    mapping: str | None
    rules: tuple[str, ...]
    to: tuple[str, ...]


@dataclass(frozen=True)
class Partner:
    id: str
    name: str
    timezone: str
    file: Path
    edi: dict[str, Any]
    as2: dict[str, Any] | None
    sftp: dict[str, Any] | None
    routes: tuple[Route, ...]

    @property
    def as2_id(self) -> str | None:
        return self.as2["as2_id"] if self.as2 else None


@dataclass(frozen=True)
class Paths:
    spool: Path
    audit: Path
    index: Path
    keys: Path
    sftp_root: Path


@dataclass(frozen=True)
class GatewayConfig:
    file: Path
    base: Path
    node: str
    listen: dict[str, str]
    paths: Paths
    our: dict[str, Any]
    destinations: dict[str, Destination]
    partners: dict[str, Partner]
    mappings_dir: Path
    rules_dir: Path
    mapping_files: tuple[Path, ...]
    rule_files: tuple[Path, ...]
    as2_body_max: int
    sftp_upload_max: int
    api_body_max: int
    drain_timeout: float
    log_level: str
    alerts: dict[str, Any]
    api_clients: tuple[dict[str, Any], ...]
    api_folders: tuple[dict[str, Any], ...]
    checksum: str  # sha256 over every config file read, in a stable order
    files: tuple[Path, ...] = field(default=())
    as2_workers: int = 0
    pipeline_hold: bool = False
    pipeline_process: bool = True
    store_sync: str = "auto"

    def partner_by_as2_id(self, as2_id: str) -> Partner | None:
        for p in self.partners.values():
            if p.as2_id == as2_id:
                return p
        return None

    def summary(self) -> str:
        return (f"{self.file}: node {self.node}, {len(self.partners)} partner(s), "
                f"{len(self.destinations)} destination(s), {len(self.mapping_files)} mapping file(s), "
                f"{len(self.rule_files)} rule file(s), listeners: {', '.join(sorted(self.listen)) or 'none'}; "
                f"checksum {self.checksum[:12]}")


@overload
def _resolve(base: Path, value: str) -> Path: ...
@overload
def _resolve(base: Path, value: str | None) -> Path | None: ...
def _resolve(base: Path, value: str | None) -> Path | None:
    if value is None:
        return None
    p = Path(value)
    return p if p.is_absolute() else base / p


def _check_readable(doc: Located, path_key: tuple, p: Path, problems: list[Problem], private: bool) -> None:
    try:
        st = p.stat()
        with open(p, "rb"):
            pass
    except FileNotFoundError:
        problems.append(doc.problem(path_key, f"file {p} does not exist"))
        return
    except OSError as exc:
        problems.append(doc.problem(path_key, f"file {p} is not readable: {exc.strerror}"))
        return
    if private and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        problems.append(doc.problem(path_key, f"private file {p} is readable by group or others "
                                              f"(mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {p}"))


def _load_partner(path: Path, base: Path, problems: list[Problem]) -> tuple[Partner | None, Located | None]:
    try:
        doc = load(path)
    except ProblemsError as exc:
        problems.extend(exc.problems)
        return None, None
    data, found = check(doc, PARTNER_SHAPE)
    problems.extend(found)
    if found:
        return None, doc
    edi = data["edi"]
    std = edi["standard"]
    if not edi.get(std):
        problems.append(doc.problem(("edi", std), f"missing: the partner trades {std} and needs edi.{std} "
                                                   f"with its qualifier and id"))
    as2, sftp = data.get("as2"), data.get("sftp")
    if as2:
        for i, cert in enumerate(as2["certificates"]):
            _check_readable(doc, ("as2", "certificates", i), _resolve(base, cert), problems, private=False)
        if as2["require_signed"] and not as2["certificates"]:
            problems.append(doc.problem(("as2", "certificates"),
                                        "require_signed is true but no partner certificate is listed"))
        if as2["mdn"]["mode"] == "async" and not as2["mdn"].get("url"):
            problems.append(doc.problem(("as2", "mdn", "url"), "async MDN needs the url we ask the partner to post to"))
        if as2.get("basic_auth"):
            _check_readable(doc, ("as2", "basic_auth", "password_file"),
                            _resolve(base, as2["basic_auth"]["password_file"]), problems, private=True)
    if sftp:
        for i, user in enumerate(sftp["users"]):
            if not user.get("authorized_keys") and not user.get("password_hash_file"):
                problems.append(doc.problem(("sftp", "users", i), "a user needs authorized_keys or password_hash_file"))
            if user.get("authorized_keys"):
                _check_readable(doc, ("sftp", "users", i, "authorized_keys"),
                                _resolve(base, user["authorized_keys"]), problems, private=False)
            if user.get("password_hash_file"):
                _check_readable(doc, ("sftp", "users", i, "password_hash_file"),
                                _resolve(base, user["password_hash_file"]), problems, private=True)
        if sftp.get("remote"):
            _check_readable(doc, ("sftp", "remote", "key"), _resolve(base, sftp["remote"]["key"]), problems,
                            private=True)
    routes = tuple(
        Route(str(r["document"]), r.get("direction"), r.get("mapping"), tuple(r["rules"]), tuple(r["to"]))
        for r in data["routes"]
    )
    partner = Partner(id=data["id"], name=data["name"], timezone=data["timezone"], file=path, edi=edi,
                      as2=as2, sftp=sftp, routes=routes)
    return partner, doc


def _check_routes(partner: Partner, doc: Located, mappings_dir: Path, rules_dir: Path) -> list[Problem]:
    """Every mapping and rule pack a partner's routes name must load; their own problems are listed too."""
    from gateway.mapping import MappingError, load_partner_mapping
    from gateway.rules.pack import load_rule_pack
    from gateway.rules.yamlsrc import RulesConfigError

    problems: list[Problem] = []
    for i, route in enumerate(partner.routes):
        if route.mapping:
            if not (mappings_dir / f"{route.mapping}.yaml").is_file():
                problems.append(doc.problem(("routes", i, "mapping"),
                                            f"mapping {route.mapping!r} not found ({mappings_dir / route.mapping}.yaml)"))
            else:
                try:
                    load_partner_mapping(route.mapping, mappings_dir, partner.id)
                except MappingError as exc:
                    problems.append(doc.problem(("routes", i, "mapping"), f"mapping {route.mapping!r} has problems:"))
                    problems.extend(exc.problems)
        for j, name in enumerate(route.rules):
            path = rules_dir / f"{name}.yaml"
            if not path.is_file():
                problems.append(doc.problem(("routes", i, "rules", j), f"rule pack {name!r} not found ({path})"))
                continue
            try:
                load_rule_pack(path)
            except RulesConfigError as exc:
                problems.append(doc.problem(("routes", i, "rules", j), f"rule pack {name!r} has problems:"))
                problems.extend(exc.problems)
    return problems


def load_config(path: str | os.PathLike[str]) -> GatewayConfig:
    """Load and check everything; raise ``ConfigError`` with all problems found."""
    file = Path(path).resolve()
    base = file.parent
    problems: list[Problem] = []
    doc = load(file)  # an unreadable or unparsable main file stops here
    data, found = check(doc, GATEWAY_SHAPE)
    problems.extend(found)
    if found:
        raise ConfigError(problems)
    files = [file]

    for i, pair in enumerate(data["our"]["certificates"]):
        _check_readable(doc, ("our", "certificates", i, "key"), _resolve(base, pair["key"]), problems, private=True)
        _check_readable(doc, ("our", "certificates", i, "cert"), _resolve(base, pair["cert"]), problems, private=False)

    destinations: dict[str, Destination] = {}
    for name, d in data["destinations"].items():
        where = ("destinations", name)
        needs = {"http": "url", "folder": "path", "as2": "partner", "sftp": "partner"}[d["kind"]]
        if not d.get(needs):
            problems.append(doc.problem(where + (needs,), f"a destination of kind {d['kind']} needs {needs}"))
        if d.get("secret_file"):
            _check_readable(doc, where + ("secret_file",), _resolve(base, d["secret_file"]), problems, private=True)
        destinations[name] = Destination(name, d["kind"], d.get("url"), _resolve(base, d.get("path")),
                                         d.get("partner"), _resolve(base, d.get("secret_file")),
                                         parse_duration(d["timeout"]), d["max_attempts"], d["content_type"])

    partners: dict[str, Partner] = {}
    partner_docs: dict[str, Located] = {}
    as2_ids: dict[str, Path] = {}
    partners_dir = _resolve(base, data["partners_dir"])
    assert partners_dir is not None
    if not partners_dir.is_dir():
        problems.append(doc.problem(("partners_dir",), f"folder {partners_dir} does not exist"))
        partner_files: list[Path] = []
    else:
        partner_files = sorted(partners_dir.glob("*.yaml")) + sorted(partners_dir.glob("*.yml"))
    for pfile in partner_files:
        files.append(pfile)
        partner, pdoc = _load_partner(pfile, base, problems)
        if partner is None or pdoc is None:
            continue
        if partner.id in partners:
            problems.append(pdoc.problem(("id",), f"duplicate partner id {partner.id!r}; "
                                                  f"also used in {partners[partner.id].file}"))
            continue
        if partner.as2_id:
            if partner.as2_id in as2_ids:
                problems.append(pdoc.problem(("as2", "as2_id"), f"duplicate AS2 id {partner.as2_id!r}; "
                                                                f"also used in {as2_ids[partner.as2_id]}"))
            as2_ids[partner.as2_id] = pfile
        if partner.as2_id == data["our"]["as2_id"]:
            problems.append(pdoc.problem(("as2", "as2_id"), f"AS2 id {partner.as2_id!r} is our own as2_id"))
        for i, route in enumerate(partner.routes):
            for j, dest in enumerate(route.to):
                if dest != "partner" and dest not in destinations:
                    known = ", ".join(sorted(destinations)) or "none defined"
                    problems.append(pdoc.problem(("routes", i, "to", j),
                                                 f"destination {dest!r} does not exist in {file.name} "
                                                 f"(known: {known}; or 'partner' to send to this partner)"))
        partners[partner.id] = partner
        partner_docs[partner.id] = pdoc

    for name, d in destinations.items():
        if d.kind in ("as2", "sftp") and d.partner and d.partner not in partners:
            problems.append(doc.problem(("destinations", name, "partner"), f"partner {d.partner!r} does not exist"))

    mappings_dir = _resolve(base, data["mappings_dir"])
    rules_dir = _resolve(base, data["rules_dir"])
    assert mappings_dir is not None and rules_dir is not None
    mapping_files = tuple(sorted(mappings_dir.rglob("*.yaml"))) if mappings_dir.is_dir() else ()
    rule_files = tuple(sorted(rules_dir.rglob("*.yaml"))) if rules_dir.is_dir() else ()
    for name, key in (("mappings_dir", mappings_dir), ("rules_dir", rules_dir)):
        if not key.is_dir():
            problems.append(doc.problem((name,), f"folder {key} does not exist"))

    if mappings_dir.is_dir() and rules_dir.is_dir():
        for pid, partner in partners.items():
            problems.extend(_check_routes(partner, partner_docs[pid], mappings_dir, rules_dir))

    seen_users: dict[str, str] = {}
    for pid, partner in partners.items():
        for i, user in enumerate((partner.sftp or {}).get("users") or []):
            if user["name"] in seen_users:
                problems.append(partner_docs[pid].problem(("sftp", "users", i, "name"),
                                f"SFTP user {user['name']!r} is also a user of partner {seen_users[user['name']]}"))
            seen_users[user["name"]] = pid

    for i, client in enumerate(data["api"]["clients"]):
        _check_readable(doc, ("api", "clients", i, "token_file"), _resolve(base, client["token_file"]), problems,
                        private=True)

    if problems:
        raise ConfigError(problems)

    digest = hashlib.sha256()
    for f in files + list(mapping_files) + list(rule_files):
        digest.update(str(f.relative_to(base) if f.is_relative_to(base) else f).encode() + b"\0")
        digest.update(f.read_bytes())
    paths = data["paths"]
    return GatewayConfig(
        file=file, base=base, node=data["node"], listen={k: v for k, v in data["listen"].items() if v},
        paths=Paths(*(_resolve(base, paths[k]) for k in ("spool", "audit", "index", "keys", "sftp_root"))),
        our=data["our"], destinations=destinations, partners=partners, mappings_dir=mappings_dir,
        rules_dir=rules_dir, mapping_files=mapping_files, rule_files=rule_files,
        as2_body_max=parse_size(data["limits"]["as2_body_max"]),
        sftp_upload_max=parse_size(data["limits"]["sftp_upload_max"]),
        api_body_max=parse_size(data["limits"]["api_body_max"]),
        drain_timeout=parse_duration(data["shutdown"]["drain_timeout"]), log_level=data["log"]["level"],
        alerts=data["alerts"], api_clients=tuple(data["api"]["clients"]),
        api_folders=tuple({**f, "path": _resolve(base, f["path"]), "poll_interval": parse_duration(f["poll_interval"])}
                          for f in data["api"]["folders"]),
        checksum=digest.hexdigest(),
        files=tuple(files), as2_workers=data["limits"]["as2_workers"], pipeline_hold=data["pipeline"]["hold"],
        pipeline_process=data["pipeline"]["process"],
        store_sync=data["store"]["sync"],
    )
