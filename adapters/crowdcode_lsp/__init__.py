"""``crowdcode lsp``: a language server that records what any LSP client does to its documents.

It offers no language features. Document sync (open, change, save, close) is enough to record
edits, saves and attribution from any client; editors with a thin plugin (the VS Code extension)
add what LSP lacks — selections, visible ranges, terminals, edit reasons — as ``crowdcode/*``
notifications. docs/lsp.md describes the protocol.
"""
