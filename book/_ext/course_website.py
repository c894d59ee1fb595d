"""A small Sphinx extension for the course's website (registered in `_config.yml`).

Sphinx 7.4 lists an inline script twice when an extension registers it after the builder has
started (sphinx-thebe and sphinx-togglebutton do): once as given, once again from the registry.
The second `const THEBE_JS_URL = ...` is then a JavaScript error on every page
(tests/test_website.py checks that the console stays clean). This drops such duplicates.
"""


def _script_key(script):
    attributes = getattr(script, "attributes", {})
    return (getattr(script, "filename", script) or "", tuple(sorted((k, str(v)) for k, v in attributes.items())))


def drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
