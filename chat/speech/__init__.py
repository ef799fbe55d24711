"""Speech: an answer's chunks spoken by an engine (espeak-ng, VOICEVOX, an
OpenAI-compatible speech endpoint), cached per (engine, voice, text).

Engines are synchronous (async callers run them with `asyncio.to_thread`) and import
no Django: the terminal client uses them too. Django settings are read only inside
`factory.py`'s functions, and `quota.py` (the daily allowance) is for the server.
"""
