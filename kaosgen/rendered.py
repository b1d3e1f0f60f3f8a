"""The rendered files: output path -> text, each written to YAML when first asked for.

The serialize pass used to write every file's text before the write pass began; a render
into an empty directory then spent its last second creating files with the CPU that had
just finished serializing idle. Texts made on demand let the write pass hand each file to
its threads while the next one is being serialized, and let a command that needs a few
files (`build --env`) serialize only those. A text, once made, is kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class RenderedFiles(Mapping[str, str]):
    """Path -> text, iterated in path order. `objects` are written with kaosgen's header;
    `texts` are ready as they are; `shared` holds the ids of containers several objects
    share (written once per indentation). The objects must not change from now on."""

    def __init__(
        self, objects: dict[str, list[Any]], texts: dict[str, str], shared: set[int]
    ) -> None:
        self._objects = objects
        self._texts = dict(texts)
        self._shared = shared
        self._memo: dict[tuple[int, str], str] = {}
        self._paths = sorted({*objects, *texts})

    def __getitem__(self, path: str) -> str:
        text = self._texts.get(path)
        if text is None:
            from kaosgen import yamlout
            from kaosgen.writer import HEADER

            objects = self._objects[path]
            with yamlout.sharing(self._shared, self._memo):
                text = self._texts[path] = yamlout.dump_all(objects, header=HEADER)
        return text

    def __contains__(self, path: object) -> bool:
        return path in self._texts or path in self._objects

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)
