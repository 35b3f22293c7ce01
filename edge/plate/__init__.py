"""Plate text handling (normalisation, grammars, OCR confusion) and plate readers."""
