"""LoRAs: read and check files (`files`), apply them fused or live to the transformer (`apply`)."""
