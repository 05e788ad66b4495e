"""What every renderer is: a named format with a file extension, written into a binary file object, and the
capabilities callers choose by (streaming, negative values)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import BinaryIO, ClassVar

from kubectl_rollouts_profile.errors import ProfileError
from kubectl_rollouts_profile.pprof.model import Profile


class Renderer(ABC):
    """One output format. ``streams``: written piece by piece (the document can be hundreds of MB), else built
    whole and written once. ``shows_negative``: can show a diff (the base's samples negated). ``is_text``: a
    table or text meant for a terminal (``convert`` prints it to stdout by default)."""

    name: ClassVar[str]
    extension: ClassVar[str]
    streams: ClassVar[bool] = False
    shows_negative: ClassVar[bool] = True
    is_text: ClassVar[bool] = False

    @abstractmethod
    def render_to(
        self,
        profile: Profile,
        out: BinaryIO,
        *,
        title: str,
        sample_index: str | None = None,
        nodes: int | None = None,
    ) -> None:
        """Write ``profile`` into ``out``. ``sample_index`` picks the sample type shown (or shown first);
        ``nodes`` limits the rows of a table. Raises ProfileError for a profile this format cannot show."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def require_samples(profile: Profile) -> None:
    """Every format shows values of some sample type: a profile without sample types (an empty file, say) is not a
    profile any of them can show."""
    if not profile.sample_types:
        raise ProfileError("not a profile: it has no sample types (an empty file?)")
