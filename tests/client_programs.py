"""Client programs more than one test module runs (tests/ is on the path: `pythonpath` in pyproject)."""

#: A client that declares get_your_info, asks, and crashes (KeyError) on the call's arguments.done.
CRASHES_ON_A_CALL = (
    "import asyncio, json, os, aiohttp\n"
    "async def main():\n"
    "    async with aiohttp.ClientSession() as s, s.ws_connect(os.environ['RTMOCK_URL'],"
    " headers={'Authorization': 'Bearer x'}) as ws:\n"
    "        await ws.send_json({'type': 'session.update', 'session': {'type': 'realtime', 'tools': ["
    "{'type': 'function', 'name': 'get_your_info', 'parameters': {}}]}})\n"
    "        await ws.send_json({'type': 'response.create'})\n"
    "        async for msg in ws:\n"
    "            if json.loads(msg.data)['type'] == 'response.function_call_arguments.done':\n"
    "                raise KeyError('no tool for this call')\n"
    "asyncio.run(main())\n")
