#!/bin/sh
# sms-agent, as installed by the sms-agent Debian package: the agent runs from
# its private Python environment, which the package's postinst makes from the
# wheels in /opt/sms-agent/wheels.
if [ ! -x /opt/sms-agent/venv/bin/sms-agent ]; then
    echo "sms-agent: /opt/sms-agent/venv is missing or broken: reinstall the package" \
         "(sudo apt install --reinstall sms-agent)" >&2
    exit 1
fi
exec /opt/sms-agent/venv/bin/sms-agent "$@"
