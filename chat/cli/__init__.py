"""The terminal client, `python -m chat.cli`: a thin HTTP client of a running server
(personal API token, server-sent events), with no Django of its own."""
