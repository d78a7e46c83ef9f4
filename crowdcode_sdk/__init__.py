"""crowdcode: record how people write software, in any editor and any terminal.

The public API that adapters and embedders use is re-exported here; see docs/embedding.md.
"""

from __future__ import annotations

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
