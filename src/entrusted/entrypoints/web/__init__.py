"""The pages for people: the customer portal (`/portal`), the staff console (`/console`) and
their static files (`/static`).

A third entrypoint beside `api/` and `cli/`: its routes parse a form, call one service and
render a template; every decision is the gate's (a page shows what the service answered,
never decides). It has its own HTML error handler (`errors.py`) and never imports the API or
the CLI; `entrypoints/server.py` mounts it beside the API, and import-linter keeps the three
entrypoints apart.
"""
