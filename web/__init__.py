"""The portal: server-rendered pages (Jinja + HTMX), templates and static files."""
