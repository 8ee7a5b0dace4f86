"""A base for the test doubles of an `Enriching` encoder: it is its own transcriber, text reader and
speech detector (subclasses give transcribe / read_lines / has_speech)."""

from __future__ import annotations


class OwnTools:
    """Enrichment tools in one object; the ingest stages ask it for each of them."""

    ocr_frames = 2

    def transcriber(self):
        return self

    def text_reader(self):
        return self

    def speech_detector(self):
        return self
