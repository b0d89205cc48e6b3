"""The Jekyll side: front matter, pages, page weight, preview, `init` and its kit."""
