#!/bin/sh
# A matrix node's ForceCommand (runs inside the root, as the node's login
# shell would): the same as tests/support/node.rs's — stand-ins in the
# node's bin/ first, and faults injected into uploads ("slow", "corrupt").
PATH="@DIR@/bin:$PATH"; export PATH
mode=$(cat @DIR@/fault 2>/dev/null)
case "$SSH_ORIGINAL_COMMAND" in
  *".part"*"cat <&3 >"*)
    case "$mode" in
      slow) python3 -c 'import sys,time
while True:
    b=sys.stdin.buffer.read(32768)
    if not b: break
    sys.stdout.buffer.write(b); sys.stdout.buffer.flush(); time.sleep(0.05)' | eval "$SSH_ORIGINAL_COMMAND"; exit $? ;;
      corrupt) python3 -c 'import sys
d=sys.stdin.buffer.read()
i=min(len(d)-1,5000)
sys.stdout.buffer.write(d[:i]+bytes([d[i]^0xFF])+d[i+1:])' | eval "$SSH_ORIGINAL_COMMAND"; exit $? ;;
    esac ;;
esac
eval "$SSH_ORIGINAL_COMMAND"
