"""XML for reshape mappings: canonical JSON -> XML with namespaces and attributes, and safe XML input.

Output naming: in the reshaped dict, a key ``@name`` is an attribute, ``#text`` the element's text, a list
repeats the element, a nested dict is a child element. ``prefix:Name`` keys use ``xml.namespaces``.
Input: ``parse_xml`` never resolves entities, never loads a DTD and never touches the network.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                          huge_tree=False, remove_comments=True, remove_pis=True)


def parse_xml(data: bytes) -> Any:
    """An lxml element tree root; entities are left unresolved, DTDs and network are never loaded."""
    root = etree.fromstring(data, _PARSER)
    if root.getroottree().docinfo.internalDTD is not None:
        raise ValueError("XML with a DOCTYPE is refused")
    return root


def xml_to_dict(el: Any) -> Any:
    """An element as the same dict shape ``to_xml`` writes (local names; attributes as @name)."""
    out: dict[str, Any] = {f"@{etree.QName(k).localname}": v for k, v in el.attrib.items()}
    for child in el:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        val = xml_to_dict(child)
        if name in out:
            prev = out[name]
            out[name] = prev + [val] if isinstance(prev, list) else [prev, val]
        else:
            out[name] = val
    text = (el.text or "").strip()
    if not out:
        return text
    if text:
        out["#text"] = text
    return out


def _qname(name: str, nsmap: dict[str | None, str], default_ns: str | None) -> str:
    if ":" in name:
        prefix, local = name.split(":", 1)
        if prefix not in nsmap:
            raise ValueError(f"namespace prefix {prefix!r} is not declared in xml.namespaces")
        return f"{{{nsmap[prefix]}}}{local}"
    return f"{{{default_ns}}}{name}" if default_ns else name


def _fill(el: Any, value: Any, nsmap: dict[str | None, str], default_ns: str | None) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k.startswith("@"):
                el.set(_qname(k[1:], nsmap, None) if ":" in k else k[1:], _text(v))
            elif k == "#text":
                el.text = _text(v)
            else:
                for item in (v if isinstance(v, list) else [v]):
                    child = etree.SubElement(el, _qname(k, nsmap, default_ns))
                    _fill(child, item, nsmap, default_ns)
    else:
        el.text = _text(value)


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def to_xml(doc: dict[str, Any], cfg: dict[str, Any]) -> bytes:
    nsmap: dict[str | None, str] = {k if k != "default" else None: v for k, v in (cfg.get("namespaces") or {}).items()}
    default_ns = nsmap.get(None)
    root = etree.Element(_qname(str(cfg["root"]), nsmap, default_ns), nsmap=nsmap or None)
    _fill(root, doc, nsmap, default_ns)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
