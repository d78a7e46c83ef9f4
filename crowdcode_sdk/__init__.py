"""crowdcode: record how people write software, in any editor and any terminal.

The public API that adapters and embedders use is re-exported here; see docs/embedding.md.
Names are imported on first use (PEP 562): ``import crowdcode_sdk`` costs nothing, so a command
that needs only the configuration (the shell wrapper before it starts the user's shell) does not
pay for the schema, the session and the attribution engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import attributes

if TYPE_CHECKING:
    from .config import Config
    from .consent import Consent, Permission, ask_consent, recording_allowed
    from .errors import CrowdcodeError, SchemaError, SessionNotFound
    from .locations import Locations
    from .positions import Document, Encoding, apply_change, apply_changes, convert_offset, utf16_len
    from .schema import (
        Action,
        AgentPrompt,
        AgentResponse,
        AgentSessionEnd,
        AgentSessionStart,
        ChangeType,
        Edit,
        EditorInfo,
        EditReason,
        Event,
        Evidence,
        FileChange,
        FileClose,
        FileOpen,
        FileSave,
        FocusChange,
        Observation,
        Position,
        Selection,
        SelectionMode,
        Source,
        TabSwitch,
        TerminalCommand,
        TerminalCommandEnd,
        TerminalFocus,
        TerminalInput,
        TerminalResize,
        TerminalViewport,
        TextChange,
        Viewport,
        decode_event,
        encode_event,
    )
    from .session import PanicReport, Session
    from .store import SessionInfo, Store
    from .verification import Verdict, verify

_EXPORTS = {
    "Config": ".config",
    "Consent": ".consent",
    "Permission": ".consent",
    "ask_consent": ".consent",
    "recording_allowed": ".consent",
    "CrowdcodeError": ".errors",
    "SchemaError": ".errors",
    "SessionNotFound": ".errors",
    "Locations": ".locations",
    "Document": ".positions",
    "Encoding": ".positions",
    "apply_change": ".positions",
    "apply_changes": ".positions",
    "convert_offset": ".positions",
    "utf16_len": ".positions",
    "Action": ".schema",
    "AgentPrompt": ".schema",
    "AgentResponse": ".schema",
    "AgentSessionEnd": ".schema",
    "AgentSessionStart": ".schema",
    "ChangeType": ".schema",
    "Edit": ".schema",
    "EditorInfo": ".schema",
    "EditReason": ".schema",
    "Event": ".schema",
    "Evidence": ".schema",
    "FileChange": ".schema",
    "FileClose": ".schema",
    "FileOpen": ".schema",
    "FileSave": ".schema",
    "FocusChange": ".schema",
    "Observation": ".schema",
    "Position": ".schema",
    "Selection": ".schema",
    "SelectionMode": ".schema",
    "Source": ".schema",
    "TabSwitch": ".schema",
    "TerminalCommand": ".schema",
    "TerminalCommandEnd": ".schema",
    "TerminalFocus": ".schema",
    "TerminalInput": ".schema",
    "TerminalResize": ".schema",
    "TerminalViewport": ".schema",
    "TextChange": ".schema",
    "Viewport": ".schema",
    "decode_event": ".schema",
    "encode_event": ".schema",
    "PanicReport": ".session",
    "Session": ".session",
    "SessionInfo": ".store",
    "Store": ".store",
    "Verdict": ".verification",
    "verify": ".verification",
}


__getattr__ = attributes(__name__, _EXPORTS, globals())


__version__ = "0.1.0"

__all__ = [
    "Verdict",
    "verify",
    "Action",
    "AgentPrompt",
    "AgentResponse",
    "AgentSessionEnd",
    "AgentSessionStart",
    "ChangeType",
    "Config",
    "Consent",
    "CrowdcodeError",
    "Document",
    "Edit",
    "EditReason",
    "EditorInfo",
    "Encoding",
    "Event",
    "Evidence",
    "FileChange",
    "FileClose",
    "FileOpen",
    "FileSave",
    "FocusChange",
    "Locations",
    "Observation",
    "PanicReport",
    "Permission",
    "Position",
    "SchemaError",
    "Selection",
    "SelectionMode",
    "Session",
    "SessionInfo",
    "SessionNotFound",
    "Source",
    "Store",
    "TabSwitch",
    "TerminalCommand",
    "TerminalCommandEnd",
    "TerminalFocus",
    "TerminalInput",
    "TerminalResize",
    "TerminalViewport",
    "TextChange",
    "Viewport",
    "apply_change",
    "apply_changes",
    "ask_consent",
    "convert_offset",
    "decode_event",
    "encode_event",
    "recording_allowed",
    "utf16_len",
]
