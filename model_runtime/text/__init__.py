"""The text path of LTX-2.3: prompt -> Gemma-3 hidden states -> feature extractor -> video/audio connectors.

Modules, in the order the data flows:

* `tokenizer`   prompt -> left-padded ids/mask (the Gemma folder's own tokenizer, offline)
* `gemma`       validate a Gemma-3 Hugging Face folder, load only its language model, return all L+1 states
* `projection`  FeatureExtractorV2 (per-token RMS norm) + `text_embedding_projection.*` (TEXT_PROJECTION_SPEC)
* `connectors`  the video/audio embeddings connectors (VIDEO_CONNECTOR_SPEC, AUDIO_CONNECTOR_SPEC)
* `encoder`     `TextEncoder.encode(prompt) -> TextEncoding`: the typed API the pipelines call

Importing this package imports none of them (transformers is slow to import).
"""
