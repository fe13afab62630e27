"""History: versions of a document (stored snapshots), restoring one, retention, differences.

Pure parts, no I/O: :mod:`~collab.history.content` (a document's content as comparable data),
:mod:`~collab.history.restore` (the one update that restores a version) with
:mod:`~collab.history.text` (one text made equal to another), :mod:`~collab.history.retention`
(which automatic versions a policy keeps) and :mod:`~collab.history.blocks` (text blocks added
and removed between two versions). :mod:`~collab.history.moment` rebuilds a state at a moment
from a store; :mod:`~collab.history.versions` saves, prunes and restores versions beside the hub.
"""
