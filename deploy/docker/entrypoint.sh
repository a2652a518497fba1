#!/bin/sh
# The image's entrypoint: for every VESTNIK_<NAME>_FILE in the environment (a secret mounted as a
# file, as Docker and Compose secrets are), exports VESTNIK_<NAME> with the file's content, then
# runs the command as PID 1 (exec), so it receives SIGTERM directly.
#   VESTNIK_JWT_SECRET_FILE=/run/secrets/vestnik_jwt_secret  ->  VESTNIK_JWT_SECRET=<content>
# A trailing newline in the file is dropped (command substitution does that).
set -eu

for variable in $(env | sed -n 's/^\(VESTNIK_[A-Z0-9_]*\)_FILE=.*/\1/p'); do
    file=$(printenv "${variable}_FILE")
    if [ ! -r "$file" ]; then
        echo "vestnik-entrypoint: ${variable}_FILE names $file, which cannot be read" >&2
        exit 1
    fi
    value=$(cat "$file")
    export "$variable=$value"
    unset "${variable}_FILE"
done

exec "$@"
