"""Excel workbooks: the import template, importing, and finance's review workbook."""
