"""The network side: the aiohttp server that drives session cores over websockets, TLS, the
endpoints the SDKs connect to, and the relay to a real service (`rtmock proxy`).
"""
