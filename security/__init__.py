"""Abuse protection: who may sign up and how often, the client's address, the
login lockout page (django-axes does the counting) and the WebSocket origin rule."""
