"""History: versions of a document (stored snapshots), restoring one, retention, differences.

Pure parts, no I/O: :mod:`collab.history.content` (a document's content as comparable data),
:mod:`collab.history.restore` (the one update that restores a version),
:mod:`collab.history.retention` (which automatic versions a policy keeps) and
:mod:`collab.history.blocks` (text blocks added and removed between two versions).
"""
