namespace XDit.Engine.Serving;

/// <summary>The service's OpenAPI 3.0 description, served at GET /openapi.json: the two generation endpoints with
/// their request fields (README, "The service", says the same in prose; the edits endpoint's multipart fields), /health and /metrics.</summary>
public static class OpenApiDocument
{
    public const string Json = """
        {
          "openapi": "3.0.3",
          "info": {"title": "xdit serve", "version": "1", "description": "Text to image with the model the service loaded, one request at a time from a bounded queue. Every answer closes its connection."},
          "paths": {
            "/generate": {"post": {
              "summary": "xDiT's generation endpoint",
              "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GenerateRequest"}}}},
              "responses": {
                "200": {"description": "the images", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GenerateResponse"}}}},
                "400": {"$ref": "#/components/responses/Error"}, "408": {"$ref": "#/components/responses/Error"},
                "411": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"},
                "429": {"$ref": "#/components/responses/Error"}, "500": {"$ref": "#/components/responses/Error"},
                "503": {"$ref": "#/components/responses/Error"}, "504": {"$ref": "#/components/responses/Error"}}}},
            "/v1/images/generations": {"post": {
              "summary": "OpenAI-compatible image generation (b64_json answers only)",
              "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAiImageRequest"}}}},
              "responses": {
                "200": {"description": "the images", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAiImageResponse"}}}},
                "400": {"description": "refused, OpenAI's error shape {error: {message, type, param}}"},
                "429": {"description": "the queue is full (Retry-After)"}, "500": {"description": "the generation failed"},
                "503": {"description": "shutting down"}, "504": {"description": "past the request deadline"}}}},
            "/v1/images/edits": {"post": {
              "summary": "OpenAI-compatible image edit: Flux Kontext edits the image, SD3, Flux and SDXL start from it (image-to-image); b64_json answers only",
              "requestBody": {"required": true, "content": {"multipart/form-data": {"schema": {"$ref": "#/components/schemas/OpenAiImageEditRequest"},
                "encoding": {"image": {"contentType": "image/png, image/jpeg"}}}}},
              "responses": {
                "200": {"description": "the images", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAiImageResponse"}}}},
                "400": {"description": "refused (a malformed multipart body, no image, two images, a mask, a model that takes no image), OpenAI's error shape {error: {message, type, param}}"},
                "413": {"description": "the body is over --max-body"},
                "429": {"description": "the queue is full (Retry-After)"}, "500": {"description": "the generation failed"},
                "503": {"description": "shutting down"}, "504": {"description": "past the request deadline"}}}},
            "/health": {"get": {"summary": "liveness and the model served", "responses": {"200": {"description": "JSON"}}}},
            "/metrics": {"get": {"summary": "queue counters and timings", "responses": {"200": {"description": "JSON"}}}},
            "/openapi.json": {"get": {"summary": "this document", "responses": {"200": {"description": "OpenAPI 3.0"}}}}
          },
          "components": {
            "responses": {"Error": {"description": "{error: message, field: the field at fault or null}", "content": {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}, "field": {"type": "string", "nullable": true}}}}}}},
            "schemas": {
              "GenerateRequest": {"type": "object", "required": ["prompt"], "additionalProperties": false, "properties": {
                "prompt": {"type": "string"}, "negative_prompt": {"type": "string"},
                "num_inference_steps": {"type": "integer", "minimum": 1}, "guidance_scale": {"type": "number"}, "cfg": {"type": "number", "description": "xDiT's name for guidance_scale"},
                "seed": {"type": "integer", "minimum": 0}, "height": {"type": "integer", "minimum": 1}, "width": {"type": "integer", "minimum": 1},
                "num_images_per_prompt": {"type": "integer", "minimum": 1, "default": 1},
                "output_type": {"type": "string", "enum": ["png_base64", "path"], "default": "png_base64"},
                "save_disk_path": {"type": "string", "description": "a folder under the service's --output-dir"},
                "max_sequence_length": {"type": "integer", "maximum": 512},
                "prompt_2": {"type": "string"}, "prompt_3": {"type": "string"}, "negative_prompt_2": {"type": "string"}, "negative_prompt_3": {"type": "string"},
                "clip_skip": {"type": "integer", "minimum": 1},
                "skip_guidance_layers": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "skip_layer_guidance_scale": {"type": "number", "default": 2.8}, "skip_layer_guidance_start": {"type": "number", "default": 0.01}, "skip_layer_guidance_stop": {"type": "number", "default": 0.2},
                "true_cfg_scale": {"type": "number"}, "use_resolution_binning": {"type": "boolean"},
                "image": {"type": "string", "description": "Flux Kontext: the image to edit; SD3, Flux, SDXL: the start image of image-to-image; a PNG or JPEG file in base64 (or a data: URL)"},
                "max_area": {"type": "integer", "minimum": 1}, "auto_resize": {"type": "boolean"},
                "strength": {"type": "number", "minimum": 0, "maximum": 1, "description": "SD3, Flux, SDXL with an image: how far the image is renoised (diffusers' strength; 0.6, SDXL 0.3)"}}},
              "GenerateResponse": {"type": "object", "properties": {
                "message": {"type": "string"}, "elapsed_time": {"type": "number", "description": "seconds"},
                "images": {"type": "array", "items": {"type": "string"}, "description": "base64 PNGs, or the files written for output_type path"},
                "save_to_disk": {"type": "boolean"}, "timings": {"type": "object", "additionalProperties": {"type": "number"}, "description": "milliseconds per stage"},
                "seed": {"type": "integer"}, "width": {"type": "integer"}, "height": {"type": "integer"}, "steps": {"type": "integer"}, "request_id": {"type": "integer"}}},
              "OpenAiImageRequest": {"type": "object", "required": ["prompt"], "additionalProperties": false, "properties": {
                "prompt": {"type": "string"}, "model": {"type": "string", "description": "taken, not used"}, "n": {"type": "integer", "minimum": 1, "default": 1},
                "size": {"type": "string", "example": "1024x1024", "description": "WIDTHxHEIGHT or auto"},
                "response_format": {"type": "string", "enum": ["b64_json"]}, "user": {"type": "string"},
                "negative_prompt": {"type": "string"}, "num_inference_steps": {"type": "integer", "minimum": 1}, "guidance_scale": {"type": "number"}, "seed": {"type": "integer", "minimum": 0}}},
              "OpenAiImageEditRequest": {"type": "object", "required": ["image", "prompt"], "additionalProperties": false, "properties": {
                "image": {"type": "string", "format": "binary", "description": "the PNG or JPEG file to edit (one; image[] with one file is taken too)"},
                "prompt": {"type": "string"}, "model": {"type": "string", "description": "taken, not used"}, "n": {"type": "integer", "minimum": 1, "default": 1},
                "size": {"type": "string", "example": "1024x1024", "description": "WIDTHxHEIGHT or auto"},
                "response_format": {"type": "string", "enum": ["b64_json"]}, "user": {"type": "string"},
                "negative_prompt": {"type": "string"}, "num_inference_steps": {"type": "integer", "minimum": 1}, "guidance_scale": {"type": "number"}, "seed": {"type": "integer", "minimum": 0},
                "strength": {"type": "number", "minimum": 0, "maximum": 1, "description": "SD3, Flux, SDXL: how far the image is renoised (diffusers' strength)"}}},
              "OpenAiImageResponse": {"type": "object", "properties": {
                "created": {"type": "integer"}, "data": {"type": "array", "items": {"type": "object", "properties": {"b64_json": {"type": "string"}}}}}}
            }
          }
        }
        """;
}
