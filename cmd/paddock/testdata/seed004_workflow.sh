#!/bin/bash
SERVER="${PADDOCK_URL}/api/v1"
TOKEN="${PADDOCK_TOKEN}"

# 1. Create an environment
echo "Creating environment..."
ENV_RESPONSE=$(curl -s -X POST "$SERVER/environments" \
  -H "Authorization: Bearer $TOKEN" \
  -H "Content-Type: application/json" \
  -d '{
    "name": "python-sandbox",
    "image": "python:3.11-slim",
    "resources": {
      "cpu": "500m",
      "memory": "512Mi",
      "storage": "1Gi"
    },
    "timeout": 1800
  }')

ENV_ID=$(echo $ENV_RESPONSE | jq -r '.id')
echo "Created environment: $ENV_ID"

# 2. Wait for environment to be ready
echo "Waiting for environment to be ready..."
while true; do
  STATUS=$(curl -s -X GET "$SERVER/environments/$ENV_ID" \
    -H "Authorization: Bearer $TOKEN" | jq -r '.status')
  
  if [ "$STATUS" = "running" ]; then
    echo "Environment is running!"
    break
  elif [ "$STATUS" = "failed" ]; then
    echo "Environment failed to start"
    exit 1
  fi
  
  echo "Status: $STATUS, waiting..."
  sleep 2
done

# 3. Execute some commands
echo "Installing dependencies..."
curl -s -X POST "$SERVER/environments/$ENV_ID/exec" \
  -H "Authorization: Bearer $TOKEN" \
  -H "Content-Type: application/json" \
  -d '{
    "command": ["pip", "install", "requests", "numpy"],
    "timeout": 120
  }' | jq

echo "Running Python code..."
curl -s -X POST "$SERVER/environments/$ENV_ID/exec" \
  -H "Authorization: Bearer $TOKEN" \
  -H "Content-Type: application/json" \
  -d '{
    "command": ["python", "-c", "import statistics; arr = [1,2,3,4,5]; print(f\"Array mean: {statistics.mean(arr)}\")"]
  }' | jq

# 4. Get logs
echo "Fetching logs..."
curl -s -X GET "$SERVER/environments/$ENV_ID/logs?tail=50" \
  -H "Authorization: Bearer $TOKEN" | jq

# 5. Delete environment
echo "Cleaning up..."
curl -s -X DELETE "$SERVER/environments/$ENV_ID" \
  -H "Authorization: Bearer $TOKEN"

echo "Done!"
