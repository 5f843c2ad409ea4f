"""Records of a run: data and weight fingerprints, the manifest, the diff of
two manifests, and the audit of what is and is not under a seed's control."""
