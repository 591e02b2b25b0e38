"""MSG91 (India, DLT) behind the SMS provider port: the only package that knows MSG91's words."""
