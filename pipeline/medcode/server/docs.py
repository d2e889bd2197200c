"""``/docs``: the API's OpenAPI schema as one plain HTML page, rendered by the server.

FastAPI's own ``/docs`` loads Swagger UI from a CDN; this page needs nothing from outside, so it works
offline like the review page. ``/openapi.json`` serves the schema itself for client generators.
"""

from __future__ import annotations

from html import escape

CSS = ("body{font:14px/1.45 system-ui,sans-serif;max-width:960px;margin:24px auto;padding:0 16px;color:#1d2733}"
       "code,pre{font:12.5px ui-monospace,monospace;background:#f2f4f7;border-radius:4px}pre{padding:10px;"
       "overflow:auto}code{padding:1px 4px}h2{margin-top:32px;border-bottom:1px solid #dde3ea}"
       ".op{border:1px solid #dde3ea;border-radius:6px;padding:10px 14px;margin:12px 0}"
       ".m{font-weight:700;display:inline-block;min-width:48px}.GET{color:#1f6f43}.POST{color:#8a4b08}"
       "table{border-collapse:collapse;margin:6px 0}td,th{border-bottom:1px solid #eef1f4;padding:3px 10px 3px 0;"
       "text-align:left;vertical-align:top}.muted{color:#5d6b7a}")


def _type(schema: dict, components: dict) -> str:
    """A short type label for a JSON schema (``list of Note``, ``string | null``)."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type(s, components) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items', {}), components)}"
    if "enum" in schema:
        return " | ".join(map(str, schema["enum"]))
    if "const" in schema:
        return repr(schema["const"])
    return schema.get("type", "any")


def _fields(name: str, components: dict) -> str:
    schema = components.get(name, {})
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{escape(field)}</code>{'' if field in required else ' <span class=muted>optional</span>'}"
        f"</td><td>{escape(_type(spec, components))}</td><td>{escape(spec.get('description', ''))}</td></tr>"
        for field, spec in schema.get("properties", {}).items())
    doc = f"<p class=muted>{escape(schema['description'])}</p>" if schema.get("description") else ""
    return f"<p><b>{escape(name)}</b></p>{doc}<table>{rows}</table>" if rows else ""


def _operation(path: str, method: str, op: dict, components: dict) -> str:
    parts = [f"<div class=op id='{escape(method + path)}'><p><span class='m {method.upper()}'>{method.upper()}</span>"
             f"<code>{escape(path)}</code> {escape(op.get('summary', ''))}</p>"]
    if op.get("description"):
        parts.append(f"<p>{escape(op['description'])}</p>")
    params = op.get("parameters", [])
    if params:
        parts.append("<table>" + "".join(
            f"<tr><td><code>{escape(p['name'])}</code> <span class=muted>{p['in']}"
            f"{', required' if p.get('required') else ''}</span></td><td>{escape(_type(p.get('schema', {}), components))}"
            f"</td><td>{escape(p.get('description', '') or p.get('schema', {}).get('description', ''))}</td></tr>"
            for p in params) + "</table>")
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body:
        names = [s["$ref"].rsplit("/", 1)[-1] for s in body.get("anyOf", [body]) if "$ref" in s]
        parts.append("<p>Body (JSON): " + " or ".join(f"<code>{escape(n)}</code>" for n in names) + "</p>")
        parts += [_fields(n, components) for n in names]
        examples = [ex for n in names for ex in components.get(n, {}).get("examples", [])]
        if examples:
            import json

            parts.append("<pre>" + escape("\n".join(json.dumps(ex) for ex in examples)) + "</pre>")
    responses = ", ".join(f"{code} {escape(r.get('description', ''))}" for code, r in op.get("responses", {}).items())
    parts.append(f"<p class=muted>Answers: {responses}</p></div>")
    return "".join(parts)


def render_docs(openapi: dict) -> str:
    """The HTML page of an OpenAPI schema (as FastAPI builds it)."""
    components = openapi.get("components", {}).get("schemas", {})
    info = openapi.get("info", {})
    ops = [_operation(path, method, op, components)
           for path, methods in openapi.get("paths", {}).items() for method, op in methods.items()]
    curl = ('curl -s -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\\n'
            '     -d \'{"text": "Type 2 diabetes mellitus and arterial hypertension."}\' \\\n'
            '     http://127.0.0.1:8000/v1/suggest')
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(info.get('title', 'API'))} API"
            f"</title><link rel=icon href='data:,'><style>{CSS}</style></head><body>"
            f"<h1>{escape(info.get('title', ''))} API <span class=muted>{escape(info.get('version', ''))}</span></h1>"
            f"<p>{escape(info.get('description', ''))}</p>"
            "<p>Every request needs the access token <code>medcode serve</code> printed: "
            "<code>Authorization: Bearer TOKEN</code>. Errors are JSON <code>{\"error\": message, \"code\": kind}</code>."
            " The schema: <a href='/openapi.json'>/openapi.json</a>.</p>"
            f"<pre>{escape(curl)}</pre><h2>Endpoints</h2>{''.join(ops)}</body></html>")
