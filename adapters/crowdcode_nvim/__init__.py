"""The Neovim adapter: the Python host behind plugins/nvim (``crowdcode nvim``).

The Lua plugin forwards buffer bytes, cursor, viewport, buffer switches, terminals and focus as
batched RPC notifications; this package translates them into the core's actions and observations.
"""
