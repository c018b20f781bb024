"""Interoperation with other tools: ``graphc export`` (torch.export and ONNX, verified on the
spot) and ``graphc diff`` (a structural diff of two ``.model`` files, keyed by node id, which
are the ``state_dict`` paths).  ``diff`` never imports torch; ``export`` does."""
