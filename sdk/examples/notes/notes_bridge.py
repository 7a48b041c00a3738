"""The notes bridge: the Python half of the mlbridge plugin SDK example.

Each session has its own notebook (``ctx.resources``), so sessions never see each
other's notes; calls without a session share one anonymous notebook. The plugin
(notes_plugin.cpp) fills in default arguments before a call reaches this process
and maps the two exceptions below to error categories::

    NoteNotFound  -> not_found
    NotebookFull  -> resource_exhausted (not retryable)

The host runs it as ``python notes_bridge.py --worker-id ID --codec json --protocol 1``;
it needs only the ``mlbridge`` package (``pip install -e <mlbridge>/python_bridges``).
"""

from __future__ import annotations

import itertools
from typing import Any

from mlbridge import BaseBridge, BridgeError, CallContext, command

NOTEBOOK = "notes"  # the key of a session's notebook in ctx.resources


class NoteNotFound(Exception):
    """No note with that id in the caller's session (the plugin maps it to not_found)."""


class NotebookFull(Exception):
    """The session already holds options.max_notes notes (→ resource_exhausted)."""


class Notebook:
    """One session's notes, by id, in the order they were created."""

    def __init__(self) -> None:
        self.notes: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def new_id(self) -> str:
        return f"n{next(self._ids)}"


class NotesBridge(BaseBridge):
    """create_note, get_note, list_notes, delete_note and a streaming search."""

    framework = "notes"
    bridge_version = "1.0.0"

    def framework_version(self) -> str:
        return "1.0.0"  # notes is its own framework; there is no package to ask

    def initialize(self, options: dict[str, Any]) -> None:
        # The plugin has validated options already: max_notes is a positive integer.
        self.max_notes = int(options.get("max_notes", 100))

    @staticmethod
    def _notebook(ctx: CallContext) -> Notebook:
        notebook = ctx.resources.get(NOTEBOOK)
        if notebook is None:
            notebook = ctx.resources[NOTEBOOK] = Notebook()
        return notebook

    @staticmethod
    def _find(notebook: Notebook, note_id: str) -> dict[str, Any]:
        note = notebook.notes.get(note_id)
        if note is None:
            raise NoteNotFound(f"no note '{note_id}' in this session")
        return note

    @command("create_note", description="Store {title, body, tags}; returns the note with its id.")
    def create_note(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        notebook = self._notebook(ctx)
        if len(notebook.notes) >= self.max_notes:
            raise NotebookFull(
                f"this session already holds {self.max_notes} notes (options.max_notes); "
                "delete some first"
            )
        tags = args.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            # A category chosen here, not by the plugin's rules.
            raise BridgeError("'tags' must be a list of strings", category="invalid_argument")
        note = {
            "id": notebook.new_id(),
            "title": str(args["title"]),
            "body": str(args.get("body", "")),
            "tags": tags,
        }
        notebook.notes[note["id"]] = note
        self.log("debug", f"session {ctx.session_id!r}: created {note['id']}")
        return note

    @command("get_note", description="The note {id}.")
    def get_note(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        return self._find(self._notebook(ctx), str(args["id"]))

    @command("list_notes", description="{notes: [{id, title, tags}]}, optionally only {tag}.")
    def list_notes(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        tag = (args or {}).get("tag")
        notes = [
            {"id": note["id"], "title": note["title"], "tags": note["tags"]}
            for note in self._notebook(ctx).notes.values()
            if tag is None or tag in note["tags"]
        ]
        return {"notes": notes}

    @command("delete_note", description="Delete the note {id}.")
    def delete_note(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        notebook = self._notebook(ctx)
        self._find(notebook, str(args["id"]))
        del notebook.notes[str(args["id"])]
        return {"deleted": str(args["id"])}

    @command("search", description="Stream each note whose title or body holds {query}.")
    def search(self, args: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
        query = str(args["query"]).casefold()
        limit = int(args.get("limit", 10))
        ids = []
        for note in self._notebook(ctx).notes.values():
            if len(ids) >= limit:
                break
            if query in note["title"].casefold() or query in note["body"].casefold():
                ctx.stream({"id": note["id"], "title": note["title"]})  # one chunk per match
                ids.append(note["id"])
        return {"count": len(ids), "ids": ids}


if __name__ == "__main__":
    NotesBridge.main()
