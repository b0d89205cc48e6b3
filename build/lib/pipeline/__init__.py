"""muscle-assets: orientation PNG sets to the assets and front matter of a muscle atlas."""

__version__ = "0.1.0"
