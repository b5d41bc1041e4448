#!/bin/sh
echo "check-debs: TODO"
