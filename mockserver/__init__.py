"""The fake realtime service: a scripted websocket server that plays YAML scenarios (sans-I/O core, aiohttp server)."""
