"""The privacy assessment's own acts: the threshold judgment (しきい値判断), the incidents
it reads, and the yearly self-inspection (自己点検)."""
