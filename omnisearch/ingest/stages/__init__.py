"""The four ingest stages, small parts that any engine chains (`local.run_local` here, Ray elsewhere):

- `reader`: `select_files` (walk, stat skip, hash), `read_file` (probe, segment, decode -> messages),
  `read_all` (worker processes through a bounded queue);
- `enricher.Enricher`: transcript (voice-activity gated) and on-screen text (change-gated) per clip;
- `encode_stage.EncodeStage`: embedding in batches that cross files, sound blocks pooled per window;
- `writer.Writer`: a thread committing each file's rows at once.

Messages between them are in `items`.
"""
