"""The one error type the media layer raises for files it cannot read.

Example:
    >>> str(MediaError("/data/x.mp4", "not a valid media file"))
    '/data/x.mp4: not a valid media file'
"""

from __future__ import annotations


class MediaError(Exception):
    """A file could not be probed or decoded; `reason` is a short human-readable sentence."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason

    def __reduce__(self) -> tuple[type[MediaError], tuple[str, str]]:
        # keep it picklable across worker processes (Exception's default pickles only args[0])
        return (MediaError, (self.path, self.reason))


def describe_av_error(exc: BaseException) -> str:
    """Turn a PyAV / decord / PIL exception into a short reason for `MediaError`.

    Example:
        >>> describe_av_error(FileNotFoundError(2, "No such file or directory"))
        'file not found'
    """
    from_av = type(exc).__module__.startswith("av")  # PyAV maps any EPERM (a failed seek) to PermissionError
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, PermissionError) and not from_av:
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    name = type(exc).__name__
    text = str(exc).strip()
    if name == "InvalidDataError" or "Invalid data found" in text:
        return "not a valid media file (corrupt, truncated or unsupported format)"
    if name == "UnidentifiedImageError":
        return "not a valid image (corrupt or unsupported format)"
    text = text.splitlines()[0] if text else name
    return f"cannot decode ({name}: {text[:200]})"
