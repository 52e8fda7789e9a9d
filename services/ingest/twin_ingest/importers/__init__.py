"""Importers: each turns one kind of source into SourceDocuments, or Rejections that say why not."""
