"""Exporting a trained model: the Hugging Face folder with its model card, ``models/latest``, and ONNX files."""
