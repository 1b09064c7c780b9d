"""The API's domain: plain data and pure rules, no aiohttp and no asyncpg."""
