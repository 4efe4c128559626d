"""sheetstream: chat with your Excel workbooks, answers streamed over WebSockets."""

__version__ = "0.1.0"
