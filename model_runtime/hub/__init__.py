"""Get the model onto the machine: the catalogue, downloads, adoption of existing files, verification.

    cat = load_catalogue()                                   # catalogue.toml, validated
    rec = recommend(cat, detect(use_torch=False).capacity())  # bf16 or fp8, by the memory planner
    ItemDownload(item, ModelStore(folder), token=find_token().token, control=c, progress=fn).run()
    scan_everywhere(cat) / adopt(found, cat, store)          # HF cache, ComfyUI, LTX-Desktop, any folder
    verify_item(installed, cat, store)                       # sha256 before use; mismatch -> quarantine
    overview(cat, store, rec) / ready_paths(rows)            # rows for the Models page and `models list`

Nothing here imports torch or Qt; huggingface_hub is imported when a download or scan starts.
"""
