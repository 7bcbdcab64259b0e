"""Small Sphinx fixes for the course website (loaded through ``sphinx.local_extensions`` in ``_config.yml``).

- sphinx-thebe registers its inline configuration script twice under Jupyter Book 1, so every page declares
  ``const THEBE_JS_URL`` twice and the browser reports a JavaScript error. Drop exact duplicates of inline scripts.
"""

from __future__ import annotations

from typing import Any


def _dedupe_inline_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[str] = set()
    kept = []
    for js in scripts:
        body = getattr(js, "attributes", {}).get("body") if hasattr(js, "attributes") else None
        if body:
            if body in seen:
                continue
            seen.add(body)
        kept.append(js)
    context["script_files"] = kept


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", _dedupe_inline_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
