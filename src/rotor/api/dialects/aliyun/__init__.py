"""The Alibaba Cloud KMS-compatible secrets API (version 2016-01-20), on rotor's own port."""
