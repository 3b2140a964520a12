package server

import (
	"regexp"
	"strings"

	"github.com/gofiber/fiber/v2"
)

var pathParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// openAPIPath turns /reports/:month into /reports/{month}.
func openAPIPath(p string) string { return pathParam.ReplaceAllString(p, "{$1}") }

// OpenAPI is the OpenAPI 3.0 document of every registered route.
func (s *Server) OpenAPI() map[string]any {
	paths := map[string]any{}
	for _, rt := range s.routes {
		p := openAPIPath(rt.Path)
		item, _ := paths[p].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[p] = item
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range rt.Query {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": map[string]any{"type": "string"}})
		}
		op := map[string]any{
			"summary":     rt.Summary,
			"tags":        []string{rt.Tag},
			"operationId": strings.ToLower(rt.Method) + strings.NewReplacer("/", "_", ":", "", ".", "_").Replace(rt.Path),
			"x-role":      string(rt.Need),
			"responses": map[string]any{
				"200": map[string]any{"description": "OK"},
				"400": map[string]any{"description": "bad input: every problem names its field", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problems"}}}},
			},
		}
		if rt.Need != RolePublic {
			op["security"] = []any{map[string]any{"session": []string{}}, map[string]any{"bearer": []string{}}, map[string]any{"basic": []string{}}}
			op["responses"].(map[string]any)["401"] = map[string]any{"description": "no or wrong credentials"}
			op["responses"].(map[string]any)["403"] = map[string]any{"description": "the role does not allow it, or a cross-site call"}
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.Body != "" {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{
				"schema": map[string]any{"type": "object"}, "example": rt.Body}}}
		}
		item[strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info":    map[string]any{"title": "setsuden", "version": s.cfg.Version},
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": sessionCookie},
				"bearer":  map[string]any{"type": "http", "scheme": "bearer"},
				"basic":   map[string]any{"type": "http", "scheme": "basic"},
			},
			"schemas": map[string]any{"Problems": map[string]any{"type": "object", "properties": map[string]any{
				"error":    map[string]any{"type": "string"},
				"problems": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{"field": map[string]any{"type": "string"}, "message": map[string]any{"type": "string"}}}},
			}}},
		},
	}
}

func (s *Server) openapi(c *fiber.Ctx) error { return c.JSON(s.OpenAPI()) }
