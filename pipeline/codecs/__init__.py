"""Encoders that know nothing of the pipeline: PNG/WebP/AVIF, GIF, video, blending."""
