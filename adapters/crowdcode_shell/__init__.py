"""``crowdcode shell``: run a shell (or any command) in a pseudo-terminal and record it.

The user's bytes pass through untouched (:mod:`.pty_loop`); everything else — the raw stream
(:mod:`.asciicast`), commands from shell-integration marks (:mod:`.marks`, :mod:`.integration`),
the rendered screen (:mod:`.screen`, :mod:`.sampler`), foreground programs and CLI agents
(:mod:`.foreground`, :mod:`.agent_tracker`), keys that belong to a recorded pane of a
multiplexer inside this terminal (:mod:`.nested_panes`) — happens in a separate recorder process
(:mod:`.recorder`) fed through a non-blocking pipe (:mod:`.channel`), so that recording can fall
behind or fail without the user's terminal noticing.
"""
